# Run from the repository root: PYTHONPATH=/tmp/refsrc/site:../shared/refenv/pystub /usr/bin/python3 tests/data/schedulers_sde/make_goldens.py
# Goldens for diffusers' DPMSolverSDEScheduler (DPM++ SDE, plain and Karras) on the fake model and
# x_T of ../shared/fixtures/schedulers. torchsde is not installed here: a stand-in module lets the
# scheduler import, and its Brownian noise sampler is replaced by one that draws seeded normals and
# records them with the sigma interval each was asked for, so a port can replay them in order.
import importlib.machinery, json, math, sys, types
import torch
_fake = types.ModuleType('torchsde')  # only imported, never called
_fake.__spec__ = importlib.machinery.ModuleSpec('torchsde', None)
sys.modules['torchsde'] = _fake
from safetensors.torch import load_file, save_file
import diffusers.schedulers.scheduling_dpmsolver_sde as sde
torch.set_num_threads(2)

class RecordingNoise:
    def __init__(self, x, sigma_min, sigma_max, seed=None, transform=lambda x: x):
        self.gen = torch.Generator().manual_seed(1234)
        self.shape = x.shape
        self.draws, self.intervals = [], []
        self.range = (float(sigma_min), float(sigma_max))
        RecordingNoise.last = self
    def __call__(self, sigma, sigma_next):
        n = torch.randn(self.shape, generator=self.gen)
        self.draws.append(n.clone())
        self.intervals.append([float(sigma), float(sigma_next)])
        return n
sde.BrownianTreeNoiseSampler = RecordingNoise

base = json.load(open('../shared/fixtures/schedulers/io.json'))['config']
xT = load_file('../shared/fixtures/schedulers/io.safetensors')['x_T']
tensors, cases = {}, {}
runs = [('dpmpp_sde', {}, 6), ('dpmpp_sde_karras', {'use_karras_sigmas': True}, 10),
        ('dpmpp_sde_karras', {'use_karras_sigmas': True, 'timestep_spacing': 'leading', 'steps_offset': 1}, 5)]
for name, extra, steps in runs:
    s = sde.DPMSolverSDEScheduler.from_config({**base, **extra})
    s.set_timesteps(steps)
    key = f'{name}_{steps}' + ('_leading' if 'timestep_spacing' in extra else '')
    x = xT.clone() * s.init_noise_sigma
    inputs, traj = [], []
    for t in s.timesteps:
        xin = s.scale_model_input(x, t)
        inputs.append(xin.clone())
        eps = 0.1 * xin + math.sin(float(t) / 100)
        x = s.step(eps, t, x).prev_sample
        traj.append(x.clone())
    rec = RecordingNoise.last
    for k, n in enumerate(rec.draws):
        tensors[f'{key}_noise_{k}'] = n.contiguous()
    tensors[key + '_model_input'] = torch.stack(inputs).contiguous()
    tensors[key + '_trajectory'] = torch.stack(traj).contiguous()
    tensors[key + '_final'] = x.contiguous()
    cfg = dict(s.config)
    cases[key] = {'scheduler': name, 'class': 'DPMSolverSDEScheduler', 'steps': steps,
                  'resolved_config': {k: v for k, v in cfg.items() if not k.startswith('_')},
                  'timesteps': [float(t) for t in s.timesteps], 'init_noise_sigma': float(s.init_noise_sigma),
                  'n_noises': len(rec.draws), 'noise_intervals': rec.intervals, 'noise_range': list(rec.range)}
tensors['x_T'] = xT.contiguous()
out = 'tests/data/schedulers_sde'
save_file(tensors, out + '/io.safetensors')
def clean(o):
    if isinstance(o, float) and (math.isinf(o) or math.isnan(o)): return None
    if isinstance(o, dict): return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [clean(v) for v in o]
    return o
json.dump({'made_with': 'diffusers 0.27.2 DPMSolverSDEScheduler on Debian torch 1.13.1 (CPU, 2 threads), ../shared/refenv; '
           'the fake model and x_T of ../shared/fixtures/schedulers (eps = 0.1*x + sin(t/100) with x = scale_model_input(x, t)); '
           'torchsde stood in for: the noise sampler returned seeded normals, recorded in order as <case>_noise_<k> with the '
           '(sigma, sigma_next) interval each was asked for (noise_intervals) and the tree range (noise_range)',
           'cases': clean(cases)}, open(out + '/io.json', 'w'), indent=1)
print('wrote', {k: (len(v['timesteps']), v['n_noises']) for k, v in cases.items()})
