"""What people read: report.html, summary.md, number formats, progress on the terminal."""
