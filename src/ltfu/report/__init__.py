"""ltfu.report: lays out a finished analysis (HTML, PDF, JSON, CSV, SVG/PNG), never computes one."""

from ltfu.report.writer import write_report

__all__ = ["write_report"]
