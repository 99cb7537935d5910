"""Dispatch policies: the contract and registry (``base``) and the built-in policies.

Importing this package registers every built-in policy by name.
"""
from fleet.policies.base import DispatchPolicy, policy_class, policy_names, register
from fleet.policies.classic import (
    JoinIdleQueuePolicy,
    LeastLoadedPolicy,
    LeastWorkLeftPolicy,
    PowerOfDPolicy,
    RandomPolicy,
    RoundRobinPolicy,
)
from fleet.policies.departure import DepartureAwarePolicy
from fleet.policies.energy import CarbonAwarePolicy, EnergyAwarePolicy, PriceAwarePolicy
from fleet.policies.resident import ResidentModelPolicy
from fleet.policies.weighted import WeightedPolicy

__all__ = [
    "CarbonAwarePolicy", "DepartureAwarePolicy", "DispatchPolicy", "EnergyAwarePolicy", "JoinIdleQueuePolicy",
    "LeastLoadedPolicy", "LeastWorkLeftPolicy", "PowerOfDPolicy", "PriceAwarePolicy", "RandomPolicy",
    "ResidentModelPolicy", "RoundRobinPolicy", "WeightedPolicy", "policy_class", "policy_names", "register",
]
