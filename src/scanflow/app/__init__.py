"""The multi-graph model: Application, Workflow, Executor, Service, Dependency, Agent; and its
plan (the flat DAG of executor nodes every backend and exporter works from)."""

from .errors import Problem, SpecError
from .plan import Plan, PlannedNode, build_command, build_plan, top_level_workflows
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
    "Agent", "Application", "Dependency", "Executor", "Node", "Plan", "PlannedNode", "Problem",
    "Resources", "Service", "SpecError", "SubWorkflow", "TrackerSettings", "Workflow",
    "build_command", "build_plan", "did_you_mean", "dump_yaml", "find_app_file", "find_problems",
    "load_app", "load_yaml", "parse_cpu", "parse_memory", "set_renderer", "top_level_workflows",
]
