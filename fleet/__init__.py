"""Vehicles, batteries, chips, mobility, jobs, workloads, dispatcher and policies."""
