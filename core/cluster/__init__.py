"""Runs executed by ``gluon worker`` processes on other hosts, shown by the coordinator as if
they ran in ``gluon serve`` (DESIGN §3, §8): dispatching, the relay of what happens on a
worker, the commands to it, leases and fencing, the workers' registry."""
