"""Arena-Hard v2 (`gift eval arena-hard`).

- `evaluate`: answers generated and judged pairwise against the baselines, the result written;
- `judges`: verdicts parsed from untrusted judgments, the judge prompts, the API and reward-model judges;
- `scoring`: style features, style-controlled Bradley-Terry, bootstrap intervals;
- `official`: arena-hard-auto's judge prompts and files at the pinned commit.
"""
