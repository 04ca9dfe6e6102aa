"""The package version, read by the build backend and by the tracer's instrumentation scope."""

__version__ = "0.1.0.dev0"
