# Run from the repository root: PYTHONPATH=/tmp/refsrc/site:../shared/refenv/pystub /usr/bin/python3 tests/data/schedulers_few_steps/make_goldens.py
# Goldens for DPM++ 2M (and Karras) with fewer than 15 steps, where diffusers 0.27 lowers the order
# near the end: the same fake model and x_T as ../shared/fixtures/schedulers.
import json, math, sys
import torch
from safetensors.torch import load_file, save_file
from diffusers import DPMSolverMultistepScheduler
torch.set_num_threads(2)
base = json.load(open('../shared/fixtures/schedulers/io.json'))['config']
xT = load_file('../shared/fixtures/schedulers/io.safetensors')['x_T']
tensors, cases = {}, {}
for name, extra in [('dpmpp_2m', {}), ('dpmpp_2m_karras', {'use_karras_sigmas': True})]:
    for steps in (4, 10):
        s = DPMSolverMultistepScheduler.from_config({**base, **extra})
        s.set_timesteps(steps)
        key = f'{name}_{steps}'
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
        cases[key] = {'scheduler': name, 'class': 'DPMSolverMultistepScheduler', 'steps': steps,
                      'resolved_config': {k: v for k, v in cfg.items() if not k.startswith('_')},
                      'timesteps': [float(t) for t in s.timesteps], 'init_noise_sigma': float(s.init_noise_sigma),
                      'n_noises': 0}
tensors['x_T'] = xT.contiguous()
out = 'tests/data/schedulers_few_steps'  # run from the repository root
save_file(tensors, out + '/io.safetensors')
def clean(o):
    if isinstance(o, float) and (math.isinf(o) or math.isnan(o)): return None
    if isinstance(o, dict): return {k: clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)): return [clean(v) for v in o]
    return o
json.dump({'made_with': 'diffusers 0.27.2 DPMSolverMultistepScheduler on Debian torch 1.13.1 (CPU, 2 threads), ../shared/refenv; '
           'the fake model and x_T of ../shared/fixtures/schedulers (eps = 0.1*x + sin(t/100) with x = scale_model_input(x, t)); '
           'fewer than 15 steps, where diffusers lowers the order at the final step (lower_order_final) but keeps order 2 at the '
           'second-to-last (lower_order_second only lowers a third-order solver); lambda_min_clipped -inf written as null',
           'cases': clean(cases)}, open(out + '/io.json', 'w'), indent=1)
print('wrote', list(cases))
