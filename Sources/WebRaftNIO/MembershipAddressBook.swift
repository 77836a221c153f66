import Synchronization
import WebRaft

/// Keeps a ``TCPTransport``'s address book, which is also its allow-list, in step with a node's
/// membership.
///
/// A node uses the latest membership in its log as soon as the entry is appended, committed or
/// not. A member that such an entry removes must still be reachable until it has learned that its
/// removal committed: a leader that removes itself has to replicate the entry, commit it and then
/// hand leadership over. So a member stays in the book while the node's latest membership
/// (``WebRaft/RaftEvent/membershipChanged(_:)``) or its committed one
/// (``WebRaft/RaftEvent/membershipCommitted(_:)``) holds it, and for a grace period after it left
/// both, long enough for the last messages it sent before it learned of its removal (the
/// leader's `timeoutNow`) to arrive.
///
/// ```swift
/// let book = MembershipAddressBook(transport: transport, grace: .seconds(1)) { member, membership in
///   membership.attributes[member]?["raft"].flatMap { TCPTransport.PeerAddress($0) }
/// }
/// let listeners = await book.follow(node)
/// ```
///
/// A member whose address the membership does not give keeps the address the transport had for
/// it. Until the node knows a membership (a node that joins a running cluster starts with an
/// empty one), the book is left as the transport was configured.
public final class MembershipAddressBook: Sendable {
  private struct State: Sendable {
    var latest = Membership.empty
    var committed = Membership.empty
    /// Every node's last known address.
    var known: [NodeID: TCPTransport.PeerAddress]
    /// The nodes in the transport's book.
    var inBook: Set<NodeID>
    /// Nodes that left the memberships, kept in the book until these instants.
    var leaving: [NodeID: ContinuousClock.Instant] = [:]
    var expiry: Task<Void, Never>?
    var stopped = false
  }

  /// The transport whose address book this keeps.
  public let transport: TCPTransport
  /// How long a node stays in the book after it left both the latest and the committed
  /// membership.
  public let grace: Duration
  private let address: @Sendable (NodeID, Membership) -> TCPTransport.PeerAddress?
  private let state: Mutex<State>
  private let clock = ContinuousClock()

  /// Creates an address book for `transport`, starting from the transport's current book.
  ///
  /// - Parameters:
  ///   - transport: the transport to keep in step.
  ///   - grace: how long a removed member stays reachable; a few election timeouts.
  ///   - address: a member's address as the membership gives it (for example in its
  ///     ``WebRaft/Membership/attributes``), or nil to keep the address the book already has.
  public init(
    transport: TCPTransport, grace: Duration,
    address: @escaping @Sendable (NodeID, Membership) -> TCPTransport.PeerAddress?
  ) {
    self.transport = transport
    self.grace = grace
    self.address = address
    let peers = transport.peers
    self.state = Mutex(State(known: peers, inBook: Set(peers.keys)))
  }

  /// Follows `node`'s membership events from now on, starting from its current memberships, and
  /// returns the listeners to pass to ``WebRaft/RaftNode/unlisten(_:)`` when done.
  public func follow<StateMachine: RaftStateMachine>(_ node: RaftNode<StateMachine>) async -> [RaftListener] {
    let latest = node.listen(.membershipChanged) { [self] event in
      if case .membershipChanged(let membership) = event { latestChanged(membership) }
    }
    let committed = node.listen(.membershipCommitted) { [self] event in
      if case .membershipCommitted(let membership) = event { self.committed(membership) }
    }
    let (current, applied) = await (node.membership, node.committedMembership)
    update { state in
      state.latest = current
      state.committed = applied
    }
    return [latest, committed]
  }

  /// Takes the node's latest membership (appended, maybe not committed). The transport forgets
  /// the incarnation of a member that left it (``TCPTransport/forgetIncarnation(of:)``), so that
  /// the member can be added again later with a new data directory.
  public func latestChanged(_ membership: Membership) {
    var left: Set<NodeID> = []
    update { state in
      if !state.latest.members.isEmpty { left = state.latest.members.subtracting(membership.members) }
      state.latest = membership
    }
    for member in left { transport.forgetIncarnation(of: member) }
  }

  /// Takes the membership the node applied (committed).
  public func committed(_ membership: Membership) {
    update { $0.committed = membership }
  }

  /// Stops updating the transport; nodes still in their grace period stay in its book.
  public func stop() {
    let expiry = state.withLock { state in
      state.stopped = true
      defer { state.expiry = nil }
      return state.expiry
    }
    expiry?.cancel()
  }

  /// The nodes kept in the book only because they left recently.
  public var leavingMembers: Set<NodeID> {
    state.withLock { Set($0.leaving.keys) }
  }

  private func update(_ change: (inout State) -> Void) {
    state.withLock { state in
      change(&state)
      apply(&state)
    }
  }

  /// Recomputes the book and hands it to the transport. Runs under the lock, so that the
  /// transport sees the books in the order they were computed.
  private func apply(_ state: inout State) {
    guard !state.stopped, !(state.latest.members.isEmpty && state.committed.members.isEmpty) else { return }
    let own = transport.id
    var wanted = state.latest.members.union(state.committed.members)
    wanted.remove(own)
    for member in wanted {
      if let found = address(member, state.latest) ?? address(member, state.committed) {
        state.known[member] = found
      }
      state.leaving[member] = nil
    }
    let now = clock.now
    for member in state.inBook.subtracting(wanted) where state.leaving[member] == nil {
      state.leaving[member] = now + grace
    }
    state.leaving = state.leaving.filter { $0.value > now }
    state.inBook = wanted.union(state.leaving.keys)
    var book: [NodeID: TCPTransport.PeerAddress] = [:]
    for member in state.inBook {
      if let known = state.known[member] { book[member] = known }
    }
    transport.updatePeers(book)
    if !state.leaving.isEmpty, state.expiry == nil {
      state.expiry = Task { [self] in await expireLeaving() }
    }
  }

  /// Drops nodes from the book as their grace periods end.
  private func expireLeaving() async {
    while true {
      let next = state.withLock { state -> ContinuousClock.Instant? in
        guard !state.stopped, let next = state.leaving.values.min() else {
          state.expiry = nil
          return nil
        }
        return next
      }
      guard let next else { return }
      do {
        try await Task.sleep(until: next, clock: clock)
      } catch {
        return
      }
      update { _ in }
    }
  }
}
