"""Background work. A job's database row is the truth; a queue only carries its id.

Apps register the handlers of the work they own: `jobs.register("embed", run_embed)`.
"""

from jobs.registry import register

__all__ = ["register"]
