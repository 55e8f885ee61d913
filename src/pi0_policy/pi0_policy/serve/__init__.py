"""Off-board inference: a websocket policy server speaking openpi's protocol (no rclpy).

`codec` (msgpack with numpy arrays, openpi's encoding; never pickle), `layouts` (openpi's
observation layouts → the project's model-space layout), `batching` (several observations in
one forward pass), `server` (the asyncio server behind ``pi0 serve``). The client side is
`pi0_policy.policy.remote`.
"""
