"""What the processes tell operators about themselves: metrics, traces and logs."""
