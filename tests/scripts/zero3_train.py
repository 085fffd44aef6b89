"""`gift train` of a small policy for 2 steps under the `accelerate launch` that starts it (ZeRO-3 in the GPU test)."""

import sys

from gift.run.train import train

policy, data, out = sys.argv[1], sys.argv[2], sys.argv[3]
train({"run_id": "z3", "method": "gift", "model": policy, "train_data": data, "reward": "gsm8k", "output_dir": out,
       "max_steps": 2, "save_every": 2, "rollout_backend": "hf",
       "method_args": {"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                       "max_completion_length": 8, "learning_rate": 1e-4, "bf16": True, "disable_tqdm": True}})
