"""Reliability and security: real servers, real `celery worker`s, faults injected on purpose."""
