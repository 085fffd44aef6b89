"""RLVR evaluation (`gift eval rlvr`): greedy pass@1 as verl validates, sampled mean@k and pass@k (`pass_at_k`)."""
