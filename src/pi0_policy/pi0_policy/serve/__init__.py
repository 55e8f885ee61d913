"""Off-board inference: a websocket policy server speaking openpi's protocol (no rclpy).

`layouts` (openpi's observation layouts → the project's model-space layout), `batching`
(several observations in one forward pass), `server` (the asyncio server behind ``pi0 serve``).
The wire format is `pi0_policy.policy.codec`; the client side is `pi0_policy.policy.remote`.
"""
