"""Where a training step's CPU time goes: a summary of `node --cpu-prof` output of train-step.mjs.

Counts the samples whose stack passes through queueTrainStep but not the warm-up's `step`, i.e.
the measured steps, and prints the functions with the most self and inclusive time per step.

    python3 bench/cpu-profile.py PROFILE.cpuprofile STEPS
"""
import collections
import json
import sys

profile = json.load(open(sys.argv[1]))
steps = int(sys.argv[2])
nodes = {n["id"]: n for n in profile["nodes"]}
parent = {child: n["id"] for n in profile["nodes"] for child in n.get("children", [])}


def stack(node_id):
    names = []
    while node_id in nodes:
        frame = nodes[node_id]["callFrame"]
        names.append(frame["functionName"] or f"(anonymous {frame['url'].split('/')[-1]}:{frame['lineNumber']})")
        node_id = parent.get(node_id)
    return names


time_by_node = collections.Counter()
for node_id, delta in zip(profile["samples"], profile["timeDeltas"]):
    time_by_node[node_id] += delta
self_time, inclusive, total = collections.Counter(), collections.Counter(), 0
for node_id, us in time_by_node.items():
    names = stack(node_id)
    if "queueTrainStep" not in names or "step" in names:
        continue
    total += us
    self_time[names[0]] += us
    for name in set(names):
        inclusive[name] += us
print(f"CPU time under queueTrainStep: {total / 1000 / steps:.1f} ms per step")
print("--- self, ms per step")
for name, us in self_time.most_common(25):
    print(f"{us / 1000 / steps:8.2f}  {name}")
print("--- inclusive, ms per step")
for name, us in inclusive.most_common(40):
    print(f"{us / 1000 / steps:8.2f}  {name}")
