"""Owned by the local agent work: a real upstream server and a running LocalAgent.
Placeholder until written."""
