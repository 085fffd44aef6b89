"""`gift train` on the ranks torchrun starts (CPU, gloo): one run directory, a periodic eval, --restart."""

import sys

from gift.run.train import train

policy, data, out, lr = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
train({"run_id": "r", "method": "gift", "model": policy, "train_data": data, "eval_data": data, "eval_limit": 8,
       "eval_every": 2, "reward": "gsm8k", "output_dir": out, "max_steps": 2, "save_every": 1,
       "method_args": {"num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
                       "max_completion_length": 6, "learning_rate": lr, "disable_tqdm": True}},
      on_config_change="restart")
