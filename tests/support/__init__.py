"""What many tests need, written once: free ports, bounded polling, small scripted servers."""
