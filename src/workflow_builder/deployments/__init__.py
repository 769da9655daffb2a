"""Compiled versions and deployment: compile, list and activate versions, deploy, undeploy."""
