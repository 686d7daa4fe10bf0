package scheduler

import (
	"testing"
)

// requested returns the snapshot's view of a node: pod count and CPU
// requested.
func requested(t *testing.T, snap *Snapshot, name string) (int, int64) {
	t.Helper()
	n := snap.Get(name)
	if n == nil {
		t.Fatalf("node %s not in the snapshot", name)
	}
	return len(n.Pods), n.Requested.MilliCPU
}

func TestCacheAssumeConfirmForget(t *testing.T) {
	// Reference: chapters/04-scheduler, "Reserve: the assume cache".
	c := NewCache()
	c.AddNode(node("n1", "2", "4Gi"))
	snap := &Snapshot{}
	c.UpdateSnapshot(snap)

	p := pod("p", requests("1500m", ""))
	assumed := p.DeepCopy()
	assumed.Spec.NodeName = "n1"
	if err := c.AssumePod(assumed); err != nil {
		t.Fatal(err)
	}
	c.UpdateSnapshot(snap)
	if n, cpu := requested(t, snap, "n1"); n != 1 || cpu != 1500 {
		t.Fatalf("after AssumePod: %d pods, %dm; want 1 pod, 1500m", n, cpu)
	}
	// The next pod sees the room taken before any binding came back.
	if _, err := defaultAlgorithm().Schedule(pod("q", requests("1", "")), snap); err == nil {
		t.Error("a second 1-CPU pod fitted next to the assumed 1.5-CPU pod on a 2-CPU node")
	}
	if !c.IsAssumed(assumed) {
		t.Error("IsAssumed = false after AssumePod")
	}
	if err := c.AssumePod(assumed); err == nil {
		t.Error("assuming the same pod twice worked")
	}

	// The informer reports it bound: confirmed, counted once.
	c.AddPod(assumed.DeepCopy())
	c.UpdateSnapshot(snap)
	if n, cpu := requested(t, snap, "n1"); n != 1 || cpu != 1500 || c.IsAssumed(assumed) {
		t.Fatalf("after AddPod: %d pods, %dm, assumed %v; want 1 pod, 1500m, confirmed", n, cpu, c.IsAssumed(assumed))
	}
	// A confirmed pod is not forgotten by a late ForgetPod.
	c.ForgetPod(assumed)
	c.UpdateSnapshot(snap)
	if n, _ := requested(t, snap, "n1"); n != 1 {
		t.Errorf("ForgetPod removed a confirmed pod")
	}

	// Another pod assumed, and its binding fails: forgotten.
	q := pod("q", requests("500m", ""), on("n1"))
	if err := c.AssumePod(q); err != nil {
		t.Fatal(err)
	}
	c.ForgetPod(q)
	c.UpdateSnapshot(snap)
	if n, cpu := requested(t, snap, "n1"); n != 1 || cpu != 1500 {
		t.Errorf("after ForgetPod: %d pods, %dm; want 1 pod, 1500m", n, cpu)
	}

	// The pod is deleted: room again.
	c.RemovePod(assumed)
	c.UpdateSnapshot(snap)
	if n, cpu := requested(t, snap, "n1"); n != 0 || cpu != 0 {
		t.Errorf("after RemovePod: %d pods, %dm; want none", n, cpu)
	}
}

func TestCacheSnapshotIsACopy(t *testing.T) {
	c := NewCache()
	c.AddNode(node("n1", "2", "4Gi"))
	c.AddNode(node("n2", "2", "4Gi"))
	snap := &Snapshot{}
	c.UpdateSnapshot(snap)
	before := snap.Get("n1")
	c.AddPod(pod("a", requests("1", ""), on("n1")))
	if len(before.Pods) != 0 || before.Requested.MilliCPU != 0 {
		t.Fatal("a cache change reached the snapshot before UpdateSnapshot")
	}
	c.UpdateSnapshot(snap)
	if snap.Get("n1") == before {
		t.Error("the changed node was not copied again")
	}
	if len(snap.Nodes) != 2 || snap.Nodes[0] != snap.Get("n1") {
		t.Errorf("snapshot node list not brought up to date: %v", snap.Nodes)
	}
}

func TestCacheNodes(t *testing.T) {
	c := NewCache()
	// A pod reported before its node: kept, the node not offered yet.
	c.AddPod(pod("a", requests("1", ""), on("n1")))
	snap := &Snapshot{}
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 0 {
		t.Fatalf("snapshot has %d nodes before any Node, want 0", len(snap.Nodes))
	}
	c.AddNode(node("n1", "2", "4Gi"))
	c.AddNode(node("n2", "2", "4Gi", withLabels("zone", "a")))
	c.UpdateSnapshot(snap)
	if n, cpu := requested(t, snap, "n1"); len(snap.Nodes) != 2 || n != 1 || cpu != 1000 {
		t.Fatalf("after AddNode: %d nodes, n1 %d pods %dm; want 2 nodes, n1 1 pod 1000m", len(snap.Nodes), n, cpu)
	}
	c.RemoveNode(node("n2", "2", "4Gi"))
	c.UpdateSnapshot(snap)
	if len(snap.Nodes) != 1 || snap.Get("n2") != nil {
		t.Errorf("after RemoveNode: nodes %d, want 1", len(snap.Nodes))
	}
	if nodes, pods, assumed := c.Counts(); nodes != 1 || pods != 1 || assumed != 0 {
		t.Errorf("Counts = %d, %d, %d; want 1, 1, 0", nodes, pods, assumed)
	}
}
