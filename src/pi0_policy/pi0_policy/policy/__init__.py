"""The policy layer: from a model-space observation to model-space actions.

Preprocessing (`images`, `tokenizer`, `normalize`), checkpoint directories (`checkpoint`), the
`BasePolicy` interface (`base`) and `Pi0Policy` over a checkpoint (`local`). Modules are imported
on demand (``from pi0_policy.policy.local import Pi0Policy``) so that light users, such as the
ROS node's chunk scheduling, do not pull in torch.
"""
