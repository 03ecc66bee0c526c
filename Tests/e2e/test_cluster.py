"""Replication and failure handling: a brain with R=2 and three agents (two zones) as real
processes; agents are killed and stopped while clients keep reading and writing."""
import os
import signal
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from harness import COOKIE, SOS_BIN, Cluster, admin, signed_head, status, wait_for

MiB = 1024 * 1024


def agent_states(cluster):
    return {a["id"]: a["state"] for a in status(cluster)["agents"]}


@pytest.fixture
def replicated(tmp_path):
    c = Cluster(tmp_path, agents=3)
    c.brain.args += ["--replication", "2", "--suspect-timeout", "3", "--down-timeout", "6", "--request-timeout", "5"]
    for agent, zone in zip(c.agents, ["zone-a", "zone-a", "zone-b"]):
        agent.args += ["--zone", zone]
    c.start()
    yield c
    for agent in c.agents:
        if agent.proc and agent.proc.poll() is None:
            agent.proc.send_signal(signal.SIGCONT)
    c.stop()


def test_every_chunk_has_replicas_in_both_zones_and_survives_losing_an_agent(replicated):
    s3 = replicated.boto3()
    s3.create_bucket(Bucket="replicated")
    objects = {f"obj-{i}": os.urandom(size) for i, size in enumerate([0, 1, 1000, 3 * MiB + 7, 6 * MiB])}
    for key, data in objects.items():
        s3.put_object(Bucket="replicated", Key=key, Body=data)
    report = status(replicated)
    assert report["replication"] == 2 and report["underReplicatedChunks"] == 0
    by_id = {a["id"]: a for a in report["agents"]}
    assert {a["state"] for a in by_id.values()} == {"up"}
    wait_for(lambda: status(replicated)["agents"][2]["chunkCount"] == status(replicated)["chunks"],
             what="zone-b agent to report every chunk")  # the only agent in zone-b holds a replica of each

    for victim in replicated.agents:
        victim.stop(signal.SIGKILL)
        for key, data in objects.items():
            assert s3.get_object(Bucket="replicated", Key=key)["Body"].read() == data, (victim.name, key)
        s3.put_object(Bucket="replicated", Key=f"written-without-{victim.name}", Body=b"still writable")
        assert status(replicated)["underReplicatedChunks"] > 0
        victim.start()
        wait_for(lambda: agent_states(replicated)[victim.name] == "up", what=f"{victim.name} back up")
    # Every object, including those written while an agent was away, reads back with all agents up.
    for victim in replicated.agents:
        got = s3.get_object(Bucket="replicated", Key=f"written-without-{victim.name}")["Body"].read()
        assert got == b"still writable"


def test_writes_fail_clearly_when_fewer_than_r_agents_are_up(replicated):
    s3 = replicated.boto3()
    s3.create_bucket(Bucket="strict")
    s3.put_object(Bucket="strict", Key="before", Body=b"ok")
    replicated.agents[0].stop(signal.SIGKILL)
    replicated.agents[1].stop(signal.SIGKILL)
    wait_for(lambda: list(agent_states(replicated).values()).count("down") == 2, what="two agents down")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="strict", Key="after", Body=b"needs two replicas")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert "replicas" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket="strict", Key="after")
    # The object written before still reads from its surviving replica (zone-b holds one of each).
    assert s3.get_object(Bucket="strict", Key="before")["Body"].read() == b"ok"


def test_a_hung_agent_becomes_suspect_and_reads_route_around_it(replicated):
    s3 = replicated.boto3()
    s3.create_bucket(Bucket="hung")
    data = os.urandom(4 * MiB)
    s3.put_object(Bucket="hung", Key="k", Body=data)
    hung = replicated.agents[2]  # holds a replica of every chunk
    hung.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: agent_states(replicated)["agent-3"] in ("suspect", "down"), timeout=10, what="suspect state")
        started = time.monotonic()
        assert s3.get_object(Bucket="hung", Key="k")["Body"].read() == data
        assert time.monotonic() - started < 5, "reads must not wait for the hung agent"
        wait_for(lambda: agent_states(replicated)["agent-3"] == "down", timeout=10, what="down state")
    finally:
        hung.proc.send_signal(signal.SIGCONT)
    wait_for(lambda: agent_states(replicated)["agent-3"] == "up", what="agent-3 up again after SIGCONT")


def test_membership_survives_a_brain_restart(replicated):
    for agent in replicated.agents:
        agent.stop()
    replicated.brain.stop()
    replicated.brain.start()
    wait_for(lambda: _port_ready(replicated), what="brain back")
    states = agent_states(replicated)
    assert states == {"agent-1": "down", "agent-2": "down", "agent-3": "down"}
    zones = {a["id"]: a["zone"] for a in status(replicated)["agents"]}
    assert zones == {"agent-1": "zone-a", "agent-2": "zone-a", "agent-3": "zone-b"}
    table = admin(replicated, "agents")
    assert "agent-3" in table and "down" in table


def _port_ready(cluster):
    try:
        admin(cluster, "status", "--json")
        return True
    except AssertionError:
        return False


def test_admin_with_a_wrong_cookie_is_refused(replicated):
    result = subprocess.run(
        [SOS_BIN, "admin", "--brain", f"127.0.0.1:{replicated.cluster_port}", "--cookie", "wrong", "status"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "wrong cookie" in result.stderr


@pytest.fixture
def self_healing(tmp_path):
    c = Cluster(tmp_path, agents=3)
    c.brain.args += ["--replication", "2", "--suspect-timeout", "3", "--down-timeout", "4", "--request-timeout", "5",
                     "--repair-interval", "1", "--reconcile-interval", "1", "--orphan-grace", "2",
                     "--repair-delay", "2", "--garbage-delay", "1"]
    c.start()
    yield c
    c.stop()


def test_repair_restores_r_replicas_and_a_returning_agent_is_reconciled(self_healing):
    c = self_healing
    s3 = c.boto3()
    s3.create_bucket(Bucket="healing")
    objects = {f"k{i}": os.urandom(1 * MiB + i) for i in range(6)}
    for key, data in objects.items():
        s3.put_object(Bucket="healing", Key=key, Body=data)
    lost = c.agents[0]
    lost.stop(signal.SIGKILL)
    wait_for(lambda: agent_states(c)["agent-1"] == "down", what="agent-1 down")
    s3.delete_object(Bucket="healing", Key="k0")  # deleted while agent-1 cannot hear of it
    del objects["k0"]
    wait_for(lambda: status(c)["underReplicatedChunks"] == 0, timeout=60, what="repair to finish")
    report = status(c)
    assert report["repair"]["repairedChunks"] > 0
    assert {a["id"]: a["referencedChunks"] for a in report["agents"]}["agent-1"] == 0
    # With the repaired replicas on agents 2 and 3, losing agent 2 as well loses nothing.
    c.agents[1].stop(signal.SIGKILL)
    for key, data in objects.items():
        assert s3.get_object(Bucket="healing", Key=key)["Body"].read() == data
    c.agents[1].start()
    # agent-1 comes back holding stale replicas, including k0's: reconcile deletes them all.
    lost.start()
    wait_for(lambda: agent_states(c)["agent-1"] == "up", what="agent-1 back")
    wait_for(lambda: {a["id"]: a for a in status(c)["agents"]}["agent-1"]["chunkCount"] == 0, timeout=60,
             what="reconcile to delete agent-1's unreferenced replicas")
    with pytest.raises(ClientError):
        s3.head_object(Bucket="healing", Key="k0")
    for key, data in objects.items():
        assert s3.get_object(Bucket="healing", Key=key)["Body"].read() == data


def test_orphans_of_an_interrupted_upload_are_reclaimed(self_healing):
    c = self_healing
    s3 = c.boto3()
    s3.create_bucket(Bucket="orphans")
    import socket
    with socket.create_connection(("127.0.0.1", c.s3_port)) as sock:
        sock.sendall((signed_head("PUT", "/orphans/partial", headers={"Content-Length": 8 * MiB}) + "\r\n").encode())
        sock.sendall(os.urandom(5 * MiB))  # several chunks reach the agents, then the client vanishes
        time.sleep(0.5)
    with pytest.raises(ClientError):
        s3.head_object(Bucket="orphans", Key="partial")

    def stored_vs_referenced():
        agents = status(c)["agents"]
        return sum(a["chunkCount"] for a in agents), sum(a["referencedChunks"] for a in agents)

    wait_for(lambda: stored_vs_referenced()[0] == stored_vs_referenced()[1], timeout=60,
             what="reconcile to reclaim the interrupted upload's chunks")


def test_drain_moves_every_chunk_then_the_agent_can_be_removed(tmp_path):
    c = Cluster(tmp_path, agents=2)
    c.brain.args += ["--repair-interval", "1", "--garbage-delay", "1"]
    c.start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="draining")
        objects = {f"k{i}": os.urandom(512 * 1024 + i) for i in range(8)}
        for key, data in objects.items():
            s3.put_object(Bucket="draining", Key=key, Body=data)
        refused = subprocess.run(
            [SOS_BIN, "admin", "--brain", f"127.0.0.1:{c.cluster_port}", "--cookie", COOKIE, "remove", "agent-1"],
            capture_output=True, text=True, timeout=30)
        assert refused.returncode != 0 and "drain it" in refused.stderr
        admin(c, "drain", "agent-1")
        wait_for(lambda: {a["id"]: a["referencedChunks"] for a in status(c)["agents"]}["agent-1"] == 0, timeout=60,
                 what="drain to empty agent-1")
        assert {a["id"]: a["draining"] for a in status(c)["agents"]}["agent-1"] is True
        s3.put_object(Bucket="draining", Key="after-drain", Body=b"goes to agent-2 only")
        admin(c, "remove", "agent-1")
        assert [a["id"] for a in status(c)["agents"]] == ["agent-2"]
        c.agents[0].stop()
        for key, data in objects.items():
            assert s3.get_object(Bucket="draining", Key=key)["Body"].read() == data
    finally:
        c.stop()


def test_rebalance_moves_chunks_to_a_new_agent(tmp_path):
    c = Cluster(tmp_path, agents=3)
    new_agent = c.agents.pop()  # joins later
    c.start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="balance")
        objects = {f"k{i}": os.urandom(256 * 1024 + i) for i in range(24)}
        for key, data in objects.items():
            s3.put_object(Bucket="balance", Key=key, Body=data)
        new_agent.start()
        c.agents.append(new_agent)
        wait_for(lambda: agent_states(c).get("agent-3") == "up", what="agent-3 up")
        assert {a["id"]: a["referencedChunks"] for a in status(c)["agents"]}["agent-3"] == 0
        admin(c, "rebalance")
        wait_for(lambda: not status(c)["rebalance"]["running"], timeout=60, what="rebalance to finish")
        shares = {a["id"]: a["referencedChunks"] for a in status(c)["agents"]}
        # 24 equal chunks over three agents: each ends within about 10% of 8 (chunk granularity allowing).
        assert all(6 <= n <= 10 for n in shares.values()), shares
        assert status(c)["rebalance"]["movedChunks"] >= shares["agent-3"]
        for key, data in objects.items():
            assert s3.get_object(Bucket="balance", Key=key)["Body"].read() == data
    finally:
        c.stop()


def test_scrub_findings_are_reported_and_repaired_from_another_replica(tmp_path):
    from crash_harness import chunk_records_by_md5, chunk_md5s
    c = Cluster(tmp_path, agents=3)
    c.brain.args += ["--replication", "2", "--repair-interval", "1", "--garbage-delay", "1"]
    for agent in c.agents:
        agent.args += ["--scrub-interval", "0"]  # only on demand (SIGUSR2)
    c.start()
    try:
        s3 = c.boto3()
        s3.create_bucket(Bucket="scrubbed")
        data = os.urandom(MiB)  # exactly one chunk
        s3.put_object(Bucket="scrubbed", Key="k", Body=data)
        md5 = chunk_md5s(data)[0]
        holder = next(a for a in c.agents if md5 in chunk_records_by_md5(c.agent_dir(a)))
        record = chunk_records_by_md5(c.agent_dir(holder))[md5]
        with record.path.open("r+b") as f:  # rot one byte under the running agent
            f.seek(record.payload_offset + 1000)
            byte = f.read(1)[0]
            f.seek(record.payload_offset + 1000)
            f.write(bytes([byte ^ 0x77]))
        holder.proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: "agent reports corrupt chunks" in c.brain.log(), timeout=30, what="the report reaching the brain")
        wait_for(lambda: status(c)["repair"]["repairedChunks"] >= 1 and status(c)["underReplicatedChunks"] == 0,
                 timeout=30, what="repair of the corrupt replica")
        assert s3.get_object(Bucket="scrubbed", Key="k")["Body"].read() == data
    finally:
        c.stop()

