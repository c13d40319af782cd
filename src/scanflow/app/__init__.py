"""The multi-graph model: Application, Workflow, Executor, Service, Dependency, Agent."""

from .errors import Problem, SpecError
from .resources import parse_cpu, parse_memory
from .spec import (
    Agent,
    Application,
    Dependency,
    Executor,
    Node,
    Resources,
    Service,
    SubWorkflow,
    TrackerSettings,
    Workflow,
    set_renderer,
)
from .validation import did_you_mean, find_problems
from .yaml_io import dump_yaml, find_app_file, load_app, load_yaml

__all__ = [
    "Agent", "Application", "Dependency", "Executor", "Node", "Problem", "Resources", "Service",
    "SpecError", "SubWorkflow", "TrackerSettings", "Workflow", "did_you_mean", "dump_yaml",
    "find_app_file", "find_problems", "load_app", "load_yaml", "parse_cpu", "parse_memory",
    "set_renderer",
]
