"""The no-Docker local stack: build or install every server, run them under supervisord."""
