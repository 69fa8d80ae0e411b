# Run from the repository root: PYTHONPATH=/tmp/refsrc/site:../shared/refenv/pystub /usr/bin/python3 tests/data/schedulers_singlestep/make_goldens.py
# Goldens for diffusers' DPMSolverSinglestepScheduler (order 2, plain and Karras: what CAIG's code
# runs for its "DPM++ SDE Karras"), on the fake model and x_T of ../shared/fixtures/schedulers, for
# an even, an odd and CAIG's step count, and one case with final_sigmas_type sigma_min and
# lower_order_final false (the only way diffusers keeps the last step second order).
import json, math
import torch
from safetensors.torch import load_file, save_file
from diffusers import DPMSolverSinglestepScheduler
torch.set_num_threads(2)
base = json.load(open('../shared/fixtures/schedulers/io.json'))['config']
xT = load_file('../shared/fixtures/schedulers/io.safetensors')['x_T']
tensors, cases = {}, {}
runs = [('dpmpp_singlestep', {}, 10), ('dpmpp_singlestep', {}, 7),
        ('dpmpp_singlestep_karras', {'use_karras_sigmas': True}, 30),
        ('dpmpp_singlestep_karras', {'use_karras_sigmas': True}, 5),
        ('dpmpp_singlestep_karras', {'use_karras_sigmas': True, 'final_sigmas_type': 'sigma_min',
                                     'lower_order_final': False}, 8)]
for name, extra, steps in runs:
    s = DPMSolverSinglestepScheduler.from_config({**base, **extra})
    s.set_timesteps(steps)
    key = f'{name}_{steps}' + ('_sigma_min' if 'final_sigmas_type' in extra else '')
    x = xT.clone() * s.init_noise_sigma
    inputs, traj = [], []
    for t in s.timesteps:
        xin = s.scale_model_input(x, t)
        inputs.append(xin.clone())
        eps = 0.1 * xin + math.sin(float(t) / 100)
        x = s.step(eps, t, x).prev_sample
        traj.append(x.clone())
    tensors[key + '_model_input'] = torch.stack(inputs).contiguous()
    tensors[key + '_trajectory'] = torch.stack(traj).contiguous()
    tensors[key + '_final'] = x.contiguous()
    cfg = dict(s.config)
    cases[key] = {'scheduler': name, 'class': 'DPMSolverSinglestepScheduler', 'steps': steps,
                  'resolved_config': {k: v for k, v in cfg.items() if not k.startswith('_')},
                  'timesteps': [float(t) for t in s.timesteps], 'orders': list(s.order_list),
                  'init_noise_sigma': float(s.init_noise_sigma), 'n_noises': 0}
tensors['x_T'] = xT.contiguous()
out = 'tests/data/schedulers_singlestep'
save_file(tensors, out + '/io.safetensors')
def clean(o):
    if isinstance(o, float) and (math.isinf(o) or math.isnan(o)): return None
    if isinstance(o, dict): return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [clean(v) for v in o]
    return o
json.dump({'made_with': 'diffusers 0.27.2 DPMSolverSinglestepScheduler on Debian torch 1.13.1 (CPU, 2 threads), ../shared/refenv; '
           'the fake model and x_T of ../shared/fixtures/schedulers (eps = 0.1*x + sin(t/100) with x = scale_model_input(x, t)); '
           'resolved_config is the config after set_timesteps (which may turn lower_order_final on); lambda_min_clipped -inf written as null',
           'cases': clean(cases)}, open(out + '/io.json', 'w'), indent=1)
print('wrote', {k: v['orders'] for k, v in cases.items()})
