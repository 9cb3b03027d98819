"""PARL's policy and value nets, transcribed from the examples of the PARL repository (commit
3bb5fe36, examples/<ALGO>/*_model.py): the pip package `parl` ships the algorithms and the
parl.Model base class, not these example nets. Layers, sizes and forward passes are the
examples'; only the constructors take plain sizes instead of gym spaces / argument objects.
Imported by tools/zoo_export_seq.py (parl needs PARL_BACKEND=paddle and no pyarrow: see there)."""

import sys

sys.modules.setdefault("pyarrow", None)  # parl 2.2.1 calls pyarrow.default_serialization_context (gone in pyarrow ≥ 13)

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.nn as nn  # noqa: E402
import paddle.nn.functional as F  # noqa: E402
import parl  # noqa: E402


class Method(nn.Layer):
    """Exports one method of a parl.Model (policy, value, ...), as its agent calls it."""

    def __init__(self, model, method):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, obs, action=None):
        f = getattr(self.model, self.method)
        return f(obs) if action is None else f(obs, action)


class CartpoleModel(parl.Model):  # examples/DQN/cartpole_model.py
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, act_dim)

    def forward(self, obs):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(obs)))))


class DQNAtariModel(parl.Model):  # examples/DQN_variant/atari_model.py (also Prioritized_DQN's)
    def __init__(self, act_dim, dueling=False):
        super().__init__()
        k = dict(weight_attr=nn.initializer.KaimingNormal())
        self.conv1 = nn.Conv2D(4, 32, 5, stride=1, padding=2, **k)
        self.conv2 = nn.Conv2D(32, 32, 5, stride=1, padding=2, **k)
        self.conv3 = nn.Conv2D(32, 64, 4, stride=1, padding=1, **k)
        self.conv4 = nn.Conv2D(64, 64, 3, stride=1, padding=1, **k)
        self.relu = nn.ReLU()
        self.max_pool = nn.MaxPool2D(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()
        self.dueling = dueling
        if dueling:
            self.linear_1_adv = nn.Linear(6400, 512, **k)
            self.linear_2_adv = nn.Linear(512, act_dim)
            self.linear_1_val = nn.Linear(6400, 512, **k)
            self.linear_2_val = nn.Linear(512, 1)
        else:
            self.linear_1 = nn.Linear(6400, act_dim)

    def forward(self, obs):
        obs = obs / 255.0
        out = self.max_pool(self.relu(self.conv1(obs)))
        out = self.max_pool(self.relu(self.conv2(out)))
        out = self.max_pool(self.relu(self.conv3(out)))
        out = self.flatten(self.relu(self.conv4(out)))
        if self.dueling:
            As = self.linear_2_adv(self.relu(self.linear_1_adv(out)))
            V = self.linear_2_val(self.relu(self.linear_1_val(out)))
            return As + (V - As.mean(axis=1, keepdim=True))
        return self.linear_1(out)


class _DDPGActor(parl.Model):
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.l1 = nn.Linear(obs_dim, 400)
        self.l2 = nn.Linear(400, 300)
        self.l3 = nn.Linear(300, action_dim)

    def forward(self, obs):
        return paddle.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(obs))))))


class _DDPGCritic(parl.Model):
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.l1 = nn.Linear(obs_dim, 400)
        self.l2 = nn.Linear(400 + action_dim, 300)
        self.l3 = nn.Linear(300, 1)

    def forward(self, obs, action):
        q = F.relu(self.l1(obs))
        q = F.relu(self.l2(paddle.concat([q, action], 1)))
        return self.l3(q)


class DDPGMujocoModel(parl.Model):  # examples/DDPG/mujoco_model.py
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.actor_model = _DDPGActor(obs_dim, action_dim)
        self.critic_model = _DDPGCritic(obs_dim, action_dim)

    def policy(self, obs):
        return self.actor_model(obs)

    def value(self, obs, action):
        return self.critic_model(obs, action)


class PPOMujocoModel(parl.Model):  # examples/PPO/mujoco_model.py
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, 64)
        self.fc2 = nn.Linear(64, 64)
        self.fc_value = nn.Linear(64, 1)
        self.fc_policy = nn.Linear(64, act_dim)
        # The example's paddle.static.create_parameter, which in dygraph is this layer's parameter.
        self.fc_pi_std = self.create_parameter([1, act_dim], dtype="float32", default_initializer=nn.initializer.Constant(value=0))

    def value(self, obs):
        out = paddle.tanh(self.fc2(paddle.tanh(self.fc1(obs))))
        return self.fc_value(out)

    def policy(self, obs):
        out = paddle.tanh(self.fc2(paddle.tanh(self.fc1(obs))))
        return self.fc_policy(out), paddle.exp(self.fc_pi_std)


class _SACActor(parl.Model):
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.l1 = nn.Linear(obs_dim, 256)
        self.l2 = nn.Linear(256, 256)
        self.mean_linear = nn.Linear(256, action_dim)
        self.std_linear = nn.Linear(256, action_dim)

    def forward(self, obs):
        x = F.relu(self.l2(F.relu(self.l1(obs))))
        return self.mean_linear(x), paddle.clip(self.std_linear(x), min=-20.0, max=2.0)


class _TwinCritic(parl.Model):  # SAC's and TD3's critic: two Q heads on concat(obs, action)
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.l1 = nn.Linear(obs_dim + action_dim, 256)
        self.l2 = nn.Linear(256, 256)
        self.l3 = nn.Linear(256, 1)
        self.l4 = nn.Linear(obs_dim + action_dim, 256)
        self.l5 = nn.Linear(256, 256)
        self.l6 = nn.Linear(256, 1)

    def forward(self, obs, action):
        x = paddle.concat([obs, action], 1)
        q1 = self.l3(F.relu(self.l2(F.relu(self.l1(x)))))
        q2 = self.l6(F.relu(self.l5(F.relu(self.l4(x)))))
        return q1, q2


class SACMujocoModel(parl.Model):  # examples/SAC/mujoco_model.py
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.actor_model = _SACActor(obs_dim, action_dim)
        self.critic_model = _TwinCritic(obs_dim, action_dim)

    def policy(self, obs):
        return self.actor_model(obs)

    def value(self, obs, action):
        return self.critic_model(obs, action)


class _TD3Actor(parl.Model):
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.l1 = nn.Linear(obs_dim, 256)
        self.l2 = nn.Linear(256, 256)
        self.l3 = nn.Linear(256, action_dim)

    def forward(self, obs):
        return paddle.tanh(self.l3(F.relu(self.l2(F.relu(self.l1(obs))))))


class TD3MujocoModel(parl.Model):  # examples/TD3/mujoco_model.py
    def __init__(self, obs_dim, action_dim):
        super().__init__()
        self.actor_model = _TD3Actor(obs_dim, action_dim)
        self.critic_model = _TwinCritic(obs_dim, action_dim)

    def policy(self, obs):
        return self.actor_model(obs)

    def value(self, obs, action):
        return self.critic_model(obs, action)


class A2CAtariModel(parl.Model):  # examples/A2C/atari_model.py
    def __init__(self, act_dim):
        super().__init__()
        self.conv1 = nn.Conv2D(4, 32, 8, stride=4, padding=1)
        self.conv2 = nn.Conv2D(32, 64, 4, stride=2, padding=2)
        self.conv3 = nn.Conv2D(64, 64, 3, stride=1, padding=0)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(64 * 9 * 9, 512)
        self.policy_fc = nn.Linear(512, act_dim)
        self.value_fc = nn.Linear(512, 1)

    def policy_and_value(self, obs):
        obs = obs / 255.0
        out = F.relu(self.conv3(F.relu(self.conv2(F.relu(self.conv1(obs))))))
        fc_output = F.relu(self.fc(self.flatten(out)))
        return self.policy_fc(fc_output), paddle.squeeze(self.value_fc(fc_output), axis=1)


class PGModel(parl.Model):  # examples/tutorials/parl2_dygraph/lesson4/policy_gradient/model.py
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, act_dim * 10)
        self.fc2 = nn.Linear(act_dim * 10, act_dim)

    def forward(self, x):
        return F.softmax(self.fc2(paddle.tanh(self.fc1(x))), axis=-1)


class ESMujocoModel(parl.Model):  # examples/ES/mujoco_model.py
    def __init__(self, obs_dim, act_dim):
        super().__init__()

        def attr(fan_in):
            v = float(np.sqrt(1.0 / fan_in))
            return paddle.framework.ParamAttr(initializer=nn.initializer.Uniform(low=-v, high=v))

        self.fc1 = nn.Linear(obs_dim, 256, weight_attr=attr(obs_dim), bias_attr=attr(obs_dim))
        self.fc2 = nn.Linear(256, 256, weight_attr=attr(256), bias_attr=attr(256))
        self.fc3 = nn.Linear(256, act_dim, weight_attr=attr(256), bias_attr=attr(256))

    def forward(self, obs):
        return self.fc3(F.tanh(self.fc2(F.tanh(self.fc1(obs)))))


class MAActorModel(parl.Model):  # examples/MADDPG/simple_model.py ActorModel (discrete actions)
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        x = dict(weight_attr=paddle.ParamAttr(initializer=nn.initializer.XavierUniform()))
        self.fc1 = nn.Linear(obs_dim, 64, **x)
        self.fc2 = nn.Linear(64, 64, **x)
        self.fc3 = nn.Linear(64, act_dim, **x)

    def forward(self, obs):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(obs)))))


class QMIXRNNModel(parl.Model):  # examples/QMIX/rnn_model.py
    def __init__(self, input_shape, n_actions, rnn_hidden_dim=64):
        super().__init__()
        self.rnn_hidden_dim = rnn_hidden_dim
        self.fc1 = nn.Linear(input_shape, rnn_hidden_dim)
        self.rnn = nn.GRUCell(input_size=rnn_hidden_dim, hidden_size=rnn_hidden_dim)
        self.fc2 = nn.Linear(rnn_hidden_dim, n_actions)

    def forward(self, inputs, hidden_state):
        x = F.relu(self.fc1(inputs))
        h_in = hidden_state.reshape(shape=(-1, self.rnn_hidden_dim))
        _, h = self.rnn(x, h_in)
        return self.fc2(h), h


class QMixerModel(parl.Model):  # examples/QMIX/qmixer_model.py (hypernet_layers=2)
    def __init__(self, n_agents, state_shape, mixing_embed_dim=32, hypernet_embed_dim=64):
        super().__init__()
        self.n_agents, self.state_shape, self.embed_dim = n_agents, state_shape, mixing_embed_dim
        self.hyper_w_1 = nn.Sequential(nn.Linear(state_shape, hypernet_embed_dim), nn.ReLU(),
                                       nn.Linear(hypernet_embed_dim, self.embed_dim * n_agents))
        self.hyper_w_2 = nn.Sequential(nn.Linear(state_shape, hypernet_embed_dim), nn.ReLU(),
                                       nn.Linear(hypernet_embed_dim, self.embed_dim))
        self.hyper_b_1 = nn.Linear(state_shape, self.embed_dim)
        self.hyper_b_2 = nn.Sequential(nn.Linear(state_shape, self.embed_dim), nn.ReLU(), nn.Linear(self.embed_dim, 1))

    def forward(self, agent_qs, states):
        batch_size = agent_qs.shape[0]
        states = states.reshape(shape=(-1, self.state_shape))
        agent_qs = agent_qs.reshape(shape=(-1, 1, self.n_agents))
        w1 = paddle.abs(self.hyper_w_1(states)).reshape(shape=(-1, self.n_agents, self.embed_dim))
        b1 = self.hyper_b_1(states).reshape(shape=(-1, 1, self.embed_dim))
        w2 = paddle.abs(self.hyper_w_2(states)).reshape(shape=(-1, self.embed_dim, 1))
        b2 = self.hyper_b_2(states).reshape(shape=(-1, 1, 1))
        hidden = F.elu(paddle.bmm(agent_qs, w1) + b1)
        y = paddle.bmm(hidden, w2) + b2
        return y.reshape(shape=(batch_size, -1, 1))


class Connect4Model(parl.Model):  # examples/AlphaZero/connect4_model.py (args of alphazero_agent.py)
    def __init__(self, board_x, board_y, action_size, num_channels=64, dropout=0.3):
        super().__init__()
        self.board_x, self.board_y, self.num_channels, self.dropout = board_x, board_y, num_channels, dropout
        self.conv1 = nn.Conv2D(1, num_channels, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2D(num_channels, num_channels, 3, stride=1, padding=1)
        self.conv3 = nn.Conv2D(num_channels, num_channels, 3, stride=1)
        self.conv4 = nn.Conv2D(num_channels, num_channels, 3, stride=1)
        self.bn1 = nn.BatchNorm2D(num_channels)
        self.bn2 = nn.BatchNorm2D(num_channels)
        self.bn3 = nn.BatchNorm2D(num_channels)
        self.bn4 = nn.BatchNorm2D(num_channels)
        self.fc1 = nn.Linear(num_channels * (board_x - 4) * (board_y - 4), 128)
        self.fc_bn1 = nn.BatchNorm1D(128)
        self.fc2 = nn.Linear(128, 64)
        self.fc_bn2 = nn.BatchNorm1D(64)
        self.fc3 = nn.Linear(64, action_size)
        self.fc4 = nn.Linear(64, 1)
        self.tanh = nn.Tanh()

    def forward(self, s):
        s = paddle.reshape(s, shape=[-1, 1, self.board_x, self.board_y])
        s = F.relu(self.bn1(self.conv1(s)))
        s = F.relu(self.bn2(self.conv2(s)))
        s = F.relu(self.bn3(self.conv3(s)))
        s = F.relu(self.bn4(self.conv4(s)))
        s = paddle.reshape(s, shape=[-1, self.num_channels * (self.board_x - 4) * (self.board_y - 4)])
        s = F.dropout(F.relu(self.fc_bn1(self.fc1(s))), p=self.dropout, training=self.training)
        s = F.dropout(F.relu(self.fc_bn2(self.fc2(s))), p=self.dropout, training=self.training)
        return F.log_softmax(self.fc3(s), axis=1), self.tanh(self.fc4(s))
