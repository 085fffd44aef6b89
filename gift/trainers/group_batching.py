"""Whole groups through TRL's batching: group ids on every completion, group-wise shuffling and splitting.

The GIFT loss z-scores within each prompt's group of N responses, so every micro-batch must hold whole
groups (docs/method.md#facts-the-implementation-relies-on). TRL's GRPOTrainer shuffles the rows of a
generation batch before cutting it into micro-steps; the trainers that need whole groups (GIFT, GFT, DAPO)
take `GroupBatchingMixin`, which tags each completion with its group, keeps its explicit reward, and
shuffles whole groups instead, checking the invariant at every split.
"""

from __future__ import annotations

from typing import Any

import torch


def assert_whole_groups(group_ids: torch.Tensor, group_size: int) -> None:
    """Raise unless `group_ids` is a run of whole, contiguous groups of `group_size` rows each."""
    n = group_ids.numel()
    if n % group_size != 0:
        raise AssertionError(f"micro-batch of {n} rows is not a whole number of groups of {group_size}")
    blocks = group_ids.view(-1, group_size)
    if not (blocks == blocks[:, :1]).all():
        raise AssertionError(f"micro-batch splits a group: group ids {group_ids.tolist()}")
    if blocks[:, 0].unique().numel() != blocks.shape[0]:
        raise AssertionError(f"micro-batch holds a group in pieces: group ids {group_ids.tolist()}")


def permute_rows(batch: dict[str, Any], index: torch.Tensor) -> dict[str, Any]:
    """Apply one row permutation to every per-row tensor or list in a batch dict (scalars pass through)."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim >= 1:
            out[key] = value[index.to(value.device)]
        elif isinstance(value, list):
            out[key] = [value[i] for i in index.tolist()]
        else:
            out[key] = value
    return out


def shuffle_and_split_groups(batch: dict[str, Any], group_size: int, num_chunks: int,
                             generator: torch.Generator | None = None) -> list[dict[str, Any]]:
    """Shuffle whole groups of a generation batch and split it into `num_chunks` micro-batches of whole groups."""
    group_ids = batch["group_ids"]
    assert_whole_groups(group_ids, group_size)
    num_groups = group_ids.numel() // group_size
    if num_groups % num_chunks != 0:
        raise AssertionError(f"{num_groups} groups cannot be split evenly into {num_chunks} micro-batches")
    order = torch.randperm(num_groups, generator=generator)
    rows = (order[:, None] * group_size + torch.arange(group_size)[None, :]).reshape(-1)
    shuffled = permute_rows(batch, rows)
    per_chunk = group_ids.numel() // num_chunks
    chunks = []
    for c in range(num_chunks):
        sl = slice(c * per_chunk, (c + 1) * per_chunk)
        chunk = {k: (v[sl] if (isinstance(v, torch.Tensor) and v.ndim >= 1) or isinstance(v, list) else v)
                 for k, v in shuffled.items()}
        assert_whole_groups(chunk["group_ids"], group_size)
        chunks.append(chunk)
    return chunks


class GroupBatchingMixin:
    """Tags each completion with its group and keeps groups whole through TRL's buffering and splitting.

    Also keeps the explicit reward of each completion (TRL keeps only the advantage), which
    the GIFT and GFT losses need.
    """

    _group_counter: int = 0

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        output = super()._generate_and_score_completions(inputs)
        n = self.num_generations if self.model.training else self.num_generations_eval
        local = len(inputs)
        if local % n != 0:
            raise AssertionError(f"generation batch of {local} completions is not whole groups of {n}")
        for start in range(0, local, n):
            first = inputs[start]["prompt"]
            if any(inputs[j]["prompt"] != first for j in range(start + 1, start + n)):
                raise AssertionError(f"rows {start}..{start + n - 1} of the generation batch are not one prompt's group")
        weights = self.reward_weights.to(self._last_rewards_per_func.device)
        rewards = torch.nan_to_num(self._last_rewards_per_func, nan=0.0) @ weights
        idx = self.accelerator.process_index
        device = output["completion_ids"].device
        output["explicit_rewards"] = rewards[idx * local : (idx + 1) * local].to(device)
        base = self._group_counter + idx * (local // n)
        output["group_ids"] = base + torch.arange(local, device=device) // n
        self._group_counter += self.accelerator.num_processes * (local // n)
        return output

    def _completion_logps(self, model, inputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log-probs of the completions under `model`, and the mask of the tokens that count."""
        prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
        completion_mask = inputs["completion_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], completion_mask], dim=1)
        per_token_logps, _, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=False
        )
        mask = completion_mask if "tool_mask" not in inputs else completion_mask * inputs["tool_mask"]
        return per_token_logps, mask

    def _prepare_inputs(self, generation_batch):
        if not self.model.training:
            return super()._prepare_inputs(generation_batch)
        generate_every = self.args.steps_per_generation * self.num_iterations
        if self._step % generate_every == 0 or self._buffered_inputs is None:
            batch = self._generate_and_score_completions(generation_batch)
            self._buffered_inputs = shuffle_and_split_groups(batch, self.num_generations, self.args.steps_per_generation)
        return self._buffered_inputs[self._step % self.args.steps_per_generation]
