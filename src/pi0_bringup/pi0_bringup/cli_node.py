"""One short-lived rclpy node for a command-line tool (`pi0 run`, `pi0 instruct`, `pi0 lifecycle`,
`pi0 record`): a context of its own, a node and an executor, torn down whatever happens.

    with cli_node("pi0_run") as (node, executor):
        ...                       # node.context is the context
"""
from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def cli_node(name: str, context=None, use_sim_time: bool = False):
    """(node, executor) on a fresh rclpy context, or on `context` (which then stays the caller's
    to shut down); `use_sim_time`: the node's clock follows `/clock`. On exit the executor shuts
    down, the node is destroyed and an own context is shut down."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    own = context is None
    if own:
        context = Context()
        rclpy.init(args=[], context=context)
    from rclpy.parameter import Parameter

    overrides = [Parameter("use_sim_time", value=True)] if use_sim_time else []
    node = rclpy.create_node(name, context=context, start_parameter_services=False, parameter_overrides=overrides)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        if own and context.ok():
            rclpy.shutdown(context=context)
