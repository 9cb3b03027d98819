//! Setting a pipeline up: a run that fails part-way through its set-up leaves no output file
//! behind, and the same file with the fault removed runs and writes them all.

use oar_edge::stages::build;
use oar_stream::config::PipelineFile;
use std::path::Path;

/// A `text-detection` plan whose model passes its input through (enough to be loaded).
fn passthrough_plan(path: &Path) {
    use oar_plan::tract::*;
    use oar_plan::*;
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([1, 3, 32, 32])).unwrap();
    model.select_output_outlets(&[x]).unwrap();
    let nnef = nnef().write_to_tar(&model, Vec::new()).unwrap();
    let model = ModelInfo { id: "det".into(), task: oar_plan::Task::TextDetection, source: "test".into(), sha256: "0".repeat(64) };
    let input = InputSpec::raw("x", ResizePolicy::LimitSide { limit: 32, mode: LimitMode::Max, multiple: 32 });
    let manifest = Manifest::new("test", model, input);
    write_plan(path, &manifest, &[(MODEL_ENTRY, &nnef)]).unwrap();
}

#[test]
fn a_run_that_fails_while_being_set_up_leaves_no_output_files() {
    let dir = tempfile::tempdir().unwrap();
    passthrough_plan(&dir.path().join("det.oar"));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // The HTTP port is taken: the last step of the set-up fails, after the JSON-lines sink.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let text = format!(
        "[source]\nkind = \"synthetic\"\nframes = 5\nground_truth = \"{gt}\"\n[detector]\nplan = \"det.oar\"\n\
         [[sink]]\nkind = \"jsonl\"\npath = \"{jsonl}\"\n[[sink]]\nkind = \"http\"\naddr = \"{addr}\"\n",
        gt = out.join("gt").display(),
        jsonl = out.join("tracks.jsonl").display(),
        addr = taken.local_addr().unwrap(),
    );
    let file = PipelineFile::parse(&text).unwrap();
    let e = build(&file, dir.path(), None, None).err().unwrap().to_string();
    assert!(e.contains("binding"), "{e}");
    let left: Vec<_> = walk(&out);
    assert!(left.is_empty(), "left behind: {left:?}");
    // The same file with a free port runs, and writes both.
    let free = text.replace(&taken.local_addr().unwrap().to_string(), "127.0.0.1:0");
    let built = build(&PipelineFile::parse(&free).unwrap(), dir.path(), None, None).unwrap();
    built.pipeline.run().unwrap();
    built.servers.iter().for_each(|s| s.shutdown());
    assert!(out.join("gt/gt.txt").is_file() && out.join("tracks.jsonl").is_file());
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
