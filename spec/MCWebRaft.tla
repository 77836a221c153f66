----------------------------- MODULE MCWebRaft -----------------------------
(* The model TLC checks: three nodes, small bounds (MCWebRaft.cfg, and     *)
(* MCWebRaftLarge.cfg for larger ones).                                    *)
EXTENDS WebRaft

CONSTANTS n1, n2, n3

MCServer == {n1, n2, n3}

(* The nodes are interchangeable when all three found the cluster. *)
MCSymmetry == Permutations(MCServer)

(* At most MaxMsgs messages in flight. *)
MCConstraint == Cardinality(msgs) <= MaxMsgs

(* For MCWebRaftFeatures.cfg: also every behaviour of at most MaxSteps     *)
(* steps (TLCGet("level") is the length of the behaviour that reached a   *)
(* state in the breadth-first search).                                    *)
MaxSteps == 14
MCStepConstraint == MCConstraint /\ TLCGet("level") <= MaxSteps
=============================================================================
