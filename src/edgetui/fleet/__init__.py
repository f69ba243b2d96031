"""A fleet: one queue across many boards over SSH, on Ansible.

The controller reads an Ansible inventory (inventory.py), installs or upgrades edgetui and starts a
detached headless run on every host through ansible-runner and the playbooks shipped beside this
module (deploy.py), follows each board's run folder over SSH by byte offset into a local mirror
(stream.py on the board, mirror.py here), and merges the finished runs into one ranking with the
inventory host in a column of its own (merge.py). The fleet folder's files are described in
layout.py. Nothing here listens on a port: SSH, with the user's own keys and known_hosts, is the
only transport.

Modules run on a board (probe.py, stream.py) import nothing heavier than the standard library and
edgetui's run-folder code, and nothing in this package imports Ansible until it drives it.
"""
