//! Pruning on a small conv net built here (residual add, depthwise conv, SE multiply, per-channel
//! constants, resize and concat): the pruned model must compute exactly what the original computes
//! with the removed filters zeroed, and must really be smaller.

use oar_compiler::prune::{self, graph::float_tensor, Criterion, PruneError, PruneOptions, Ratios};
use oar_compiler::{seeded_input, typed_model_at};
use oar_plan::tract::*;
use std::path::Path;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TypeProto,
    ValueInfoProto,
};

const SHAPE: [usize; 4] = [1, 3, 12, 12];

#[derive(Default)]
struct Net {
    graph: GraphProto,
    seed: u64,
}

impl Net {
    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) {
        self.graph.node.push(NodeProto {
            op_type: op.into(),
            name: output.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        });
    }

    /// A random constant in [lo, hi), as a `Constant` node (as paddle2onnx writes weights).
    fn konst(&mut self, name: &str, shape: &[usize], lo: f32, hi: f32) -> String {
        self.seed += 1;
        let t = seeded_input(shape, self.seed);
        let data: Vec<f32> = t
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .map(|v| lo + (v + 1.0) / 2.0 * (hi - lo))
            .collect();
        let value = AttributeProto {
            name: "value".into(),
            r#type: AttributeType::Tensor as i32,
            t: Some(float_tensor(name, shape, &data)),
            ..Default::default()
        };
        self.graph.node.push(NodeProto {
            op_type: "Constant".into(),
            output: vec![name.into()],
            attribute: vec![value],
            ..Default::default()
        });
        name.into()
    }

    fn conv(
        &mut self,
        x: &str,
        out: &str,
        cin: usize,
        cout: usize,
        k: usize,
        group: usize,
        stride: usize,
    ) {
        let w = self.konst(&format!("{out}.w"), &[cout, cin / group, k, k], -0.5, 0.5);
        let b = self.konst(&format!("{out}.b"), &[cout], -0.2, 0.2);
        let p = (k / 2) as i64;
        self.node(
            "Conv",
            &[x, &w, &b],
            out,
            vec![
                ints("pads", &[p, p, p, p]),
                int("group", group as i64),
                ints("strides", &[stride as i64; 2]),
            ],
        );
    }
}

/// A float graph input of unknown shape (the test pins it).
fn float_input(name: &str) -> ValueInfoProto {
    let tensor = type_proto::Tensor {
        elem_type: 1,
        shape: None,
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}
fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn test_net() -> ModelProto {
    let mut n = Net::default();
    n.conv("x", "c1", 3, 8, 3, 1, 1);
    let p: Vec<String> = [
        ("s", 0.5, 1.5),
        ("b", -0.3, 0.3),
        ("m", -0.3, 0.3),
        ("v", 0.5, 1.5),
    ]
    .iter()
    .map(|(k, lo, hi)| n.konst(&format!("bn.{k}"), &[8], *lo, *hi))
    .collect();
    n.node(
        "BatchNormalization",
        &["c1", &p[0], &p[1], &p[2], &p[3]],
        "bn",
        vec![],
    );
    n.node("Relu", &["bn"], "r1", vec![]);
    n.conv("r1", "c2", 8, 8, 1, 1, 1);
    n.node("Add", &["r1", "c2"], "res", vec![]); // residual: c1 and c2 lose the same channels
    n.conv("res", "dw", 8, 8, 3, 8, 1); // depthwise: follows them
    n.node("HardSwish", &["dw"], "hs", vec![]);
    let shift = n.konst("shift", &[1, 8, 1, 1], -0.5, 0.5);
    n.node("Add", &["hs", &shift], "shifted", vec![]);
    n.node("GlobalAveragePool", &["shifted"], "pool", vec![]);
    n.conv("pool", "se1", 8, 4, 1, 1, 1);
    n.node("Relu", &["se1"], "se1r", vec![]);
    n.conv("se1r", "se2", 4, 8, 1, 1, 1);
    n.node("HardSigmoid", &["se2"], "gate", vec![]);
    n.node("Mul", &["shifted", "gate"], "se", vec![]); // SE: se2 joins the residual group
    n.conv("se", "c3", 8, 6, 3, 1, 1);
    let scale = n.konst("scale", &[1, 6, 1, 1], 0.5, 2.0);
    n.node("Mul", &["c3", &scale], "scaled", vec![]);
    n.conv("se", "c4", 8, 5, 1, 1, 2);
    let roi = n.konst("roi", &[0], 0.0, 0.0);
    let scales = n.konst("scales", &[4], 0.0, 0.0);
    if let Some(t) = n
        .graph
        .node
        .last_mut()
        .and_then(|c| c.attribute[0].t.as_mut())
    {
        *t = float_tensor("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
    }
    n.node("Resize", &["c4", &roi, &scales], "up", vec![]);
    n.node(
        "Concat",
        &["scaled", "se", "up"],
        "cat",
        vec![int("axis", 1)],
    );
    n.conv("cat", "y", 19, 4, 1, 1, 1); // feeds the output: left alone
    n.graph.input.push(float_input("x"));
    n.graph.output.push(ValueInfoProto {
        name: "y".into(),
        ..Default::default()
    });
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: "".into(),
            version: 14,
        }],
        graph: Some(n.graph),
        ..Default::default()
    }
}

fn run(model: &ModelProto) -> Tensor {
    let x = seeded_input(&SHAPE, 99);
    let typed = typed_model_at(model, &SHAPE, Path::new("test-net")).unwrap();
    let out = typed
        .into_runnable()
        .unwrap()
        .run(tvec!(x.into_tvalue()))
        .unwrap();
    out[0].clone().into_tensor()
}

fn params(model: &ModelProto) -> usize {
    oar_plan::model_stats(&typed_model_at(model, &SHAPE, Path::new("test-net")).unwrap()).params
}

fn conv_weight_shape(model: &ModelProto, conv: &str) -> Vec<i64> {
    let g = model.graph.as_ref().unwrap();
    let w = &g.node.iter().find(|n| n.output[0] == conv).unwrap().input[1];
    g.initializer
        .iter()
        .find(|t| &t.name == w)
        .map(|t| t.dims.clone())
        .unwrap_or_default()
}

#[test]
fn analysis_finds_the_tied_groups_and_what_blocks_the_rest() {
    let analysis = prune::analyse(&test_net()).unwrap();
    let groups: Vec<(String, Vec<String>, usize, bool)> = analysis
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.sources
                    .iter()
                    .map(|&s| analysis.sources[s].name.clone())
                    .collect(),
                g.classes.len(),
                g.blocked.is_none(),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        groups,
        vec![
            ("c1".into(), s(&["c1", "c2", "se2"]), 8, true),
            ("se1".into(), s(&["se1"]), 4, true),
            ("c3".into(), s(&["c3"]), 6, true),
            ("c4".into(), s(&["c4"]), 5, true),
            ("y".into(), s(&["y"]), 4, false),
        ]
    );
    assert!(prune::blocked_list(&analysis).contains("`y` is a graph output"));
}

#[test]
fn pruned_model_equals_the_original_with_removed_filters_zeroed() {
    let model = test_net();
    let original = run(&model);
    for criterion in [Criterion::L1, Criterion::Fpgm] {
        let opts = PruneOptions {
            criterion,
            ratios: Ratios::Uniform(0.5),
        };
        let pruned = prune::prune(&model, &opts).unwrap();
        let removed: Vec<(String, usize, usize)> = pruned
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.channels, g.removed))
            .collect();
        assert_eq!(
            removed,
            vec![
                ("c1".into(), 8, 4),
                ("se1".into(), 4, 2),
                ("c3".into(), 6, 3),
                ("c4".into(), 5, 2)
            ]
        );
        assert_eq!(conv_weight_shape(&pruned.model, "c1"), vec![4, 3, 3, 3]);
        assert_eq!(conv_weight_shape(&pruned.model, "dw"), vec![4, 1, 3, 3]);
        // The output conv reads 3 of c3, 4 of the residual group, 3 of c4.
        assert_eq!(conv_weight_shape(&pruned.model, "y"), vec![4, 10, 1, 1]);

        let zeroed = prune::zero_removed(&model, &opts).unwrap();
        let (a, b) = (run(&pruned.model), run(&zeroed));
        let err = oar_compiler::max_abs_diff(&a, &b).unwrap();
        assert!(err <= 1e-5, "{criterion}: pruned vs zeroed differ by {err}");
        // The zeroing did something, so the comparison above can fail.
        assert!(oar_compiler::max_abs_diff(&original, &b).unwrap() > 1e-3);
        assert!(
            params(&pruned.model) < params(&model) * 6 / 10,
            "{criterion}: params not reduced"
        );
    }
}

#[test]
fn per_group_ratios_prune_only_the_named_groups_and_survive_a_file_round_trip() {
    let model = test_net();
    let opts = PruneOptions {
        criterion: Criterion::L1,
        ratios: Ratios::PerGroup([("c3".to_string(), 0.34)].into()),
    };
    let pruned = prune::prune(&model, &opts).unwrap();
    assert_eq!(pruned.groups.len(), 1);
    assert_eq!(pruned.groups[0].removed, 2);
    assert_eq!(
        conv_weight_shape(&pruned.model, "c1"),
        Vec::<i64>::new(),
        "c1 untouched keeps its Constant node"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pruned.onnx");
    oar_compiler::write_onnx(&pruned.model, &path).unwrap();
    let back = oar_compiler::read_onnx(&path).unwrap();
    let err = oar_compiler::max_abs_diff(
        &run(&back),
        &run(&prune::zero_removed(&model, &opts).unwrap()),
    )
    .unwrap();
    assert!(err <= 1e-5, "{err}");
}

#[test]
fn bad_requests_are_refused_clearly() {
    let model = test_net();
    let uniform = |r| PruneOptions {
        criterion: Criterion::L1,
        ratios: Ratios::Uniform(r),
    };
    for r in [0.0, 1.0, -0.2, 1.5, f32::NAN] {
        assert!(
            matches!(prune::prune(&model, &uniform(r)), Err(PruneError::Ratio(_))),
            "ratio {r} accepted"
        );
    }
    let named = PruneOptions {
        criterion: Criterion::L1,
        ratios: Ratios::PerGroup([("y".to_string(), 0.5)].into()),
    };
    assert!(matches!(
        prune::prune(&model, &named),
        Err(PruneError::UnknownGroup(_))
    ));

    // One conv straight to the output: nothing to prune, and the message says why.
    let mut n = Net::default();
    n.conv("x", "y", 3, 4, 3, 1, 1);
    n.graph.input.push(float_input("x"));
    n.graph.output.push(ValueInfoProto {
        name: "y".into(),
        ..Default::default()
    });
    let single = ModelProto {
        graph: Some(n.graph),
        ..Default::default()
    };
    let err = prune::prune(&single, &uniform(0.5)).unwrap_err();
    assert!(matches!(err, PruneError::NothingPrunable(_)), "{err}");
    assert!(err.to_string().contains("graph output"), "{err}");
}
