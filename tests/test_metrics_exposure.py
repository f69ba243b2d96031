"""The metrics port (`edgetui run --headless --metrics-port PORT`) listens on the loopback address
only: another machine cannot read a run's figures (board, model and configuration names among
them), whatever the firewall says."""

from __future__ import annotations

import socket

import psutil
from test_metrics import run_folder

from edgetui.run.metrics import MetricsExporter, MetricsOptions


def test_the_metrics_port_listens_on_loopback_only(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter = MetricsExporter(run_folder(tmp_path), MetricsOptions(port=port)).start()
    try:
        me = psutil.Process()
        connections = me.net_connections if hasattr(me, "net_connections") else me.connections  # psutil < 6
        listening = [c.laddr.ip for c in connections(kind="inet")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
        assert listening == ["127.0.0.1"]
        # and an address of this machine other than loopback, where it has one, is refused
        others = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                  if a.family == socket.AF_INET and not a.address.startswith("127.")]
        for address in others:
            with socket.socket() as probe:
                probe.settimeout(2)
                assert probe.connect_ex((address, port)) != 0, address
    finally:
        exporter.stop()
