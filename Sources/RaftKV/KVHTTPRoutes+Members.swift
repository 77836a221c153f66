import HTTPTypes
import Hummingbird
import NIOCore
import WebRaft
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// The membership routes: add one member, remove one, and change several at once.
extension KVHTTPRoutes {
  struct AddMemberRequest: Decodable {
    var id: String
    var raft: String
    var http: String?
  }

  @Sendable func addMember(_ request: Request, _ context: Context) async throws -> Response {
    let body = try await body(of: request, limit: 64 * 1024)
    let decoded: AddMemberRequest
    do {
      decoded = try JSONDecoder().decode(AddMemberRequest.self, from: Data(body.readableBytesView))
    } catch {
      throw KVRequestError(
        .badRequest,
        "the body must be JSON {\"id\": \"n4\", \"raft\": \"host:port\", \"http\": \"host:port\"}")
    }
    guard !decoded.id.isEmpty, decoded.id.utf8.count <= 256 else {
      throw KVRequestError(.badRequest, "the member id must be 1 to 256 bytes long")
    }
    guard TCPTransport.PeerAddress(decoded.raft) != nil else {
      throw KVRequestError(.badRequest, "raft must be host:port, got \"\(decoded.raft)\"")
    }
    if let http = decoded.http, KVEndpoint(url: http) == nil {
      throw KVRequestError(.badRequest, "http must be host:port, got \"\(http)\"")
    }
    let member = NodeID(decoded.id)
    let addresses = MemberAddresses(
      raft: decoded.raft, http: decoded.http.flatMap { KVEndpoint(url: $0)?.description })
    let node = service.node
    do {
      try await service.perform { try await node.join(member, attributes: addresses.attributes) }
    } catch RaftError.membershipChangeRejected(let reason) {
      // A retried join whose first attempt went through: the member already votes.
      guard await node.membership.voters.contains(member) else {
        throw KVRequestError(.conflict, "membership change rejected: \(reason)")
      }
    }
    return try json(await service.status().members)
  }

  @Sendable func removeMember(_ request: Request, _ context: Context) async throws -> Response {
    guard let raw = context.parameters.get("id"), let id = Self.percentDecode(raw[...]), !id.isEmpty else {
      throw KVRequestError(.badRequest, "missing member id")
    }
    let member = NodeID(id)
    let node = service.node
    guard await node.membership.contains(member) else {
      throw KVRequestError(.notFound, "\(id) is not a member")
    }
    do {
      try await service.perform { try await node.leave(member) }
    } catch RaftError.membershipChangeRejected(let reason) {
      guard await node.membership.contains(member) else { return try json(await service.status().members) }
      throw KVRequestError(.conflict, "membership change rejected: \(reason)")
    }
    return try json(await service.status().members)
  }
  /// A member named in a request, with its addresses.
  struct MemberRequest: Codable, Sendable {
    var id: String
    var raft: String
    var http: String?
  }

  /// The body of `POST /members/change`.
  struct ChangeMembersRequest: Codable, Sendable {
    var add: [MemberRequest]?
    var remove: [String]?
    var promote: [String]?
    var demote: [String]?
  }

  /// Makes several membership changes as one (`POST /members/change`): adds, removes, promotes
  /// and demotes members in one joint change when more than one voter comes or goes. New members
  /// join as learners and catch up first. Answers 200 with the members once the cluster has left
  /// the joint configuration. Any node takes it and hands it to the leader, which waits for new
  /// members to catch up.
  @Sendable func changeMembers(_ request: Request, _ context: Context) async throws -> Response {
    let body = try await body(of: request, limit: 64 * 1024)
    let decoded: ChangeMembersRequest
    do {
      decoded = try JSONDecoder().decode(ChangeMembersRequest.self, from: Data(body.readableBytesView))
    } catch {
      throw KVRequestError(
        .badRequest,
        "the body must be JSON {\"add\": [{\"id\": \"n4\", \"raft\": \"host:port\", \"http\": \"host:port\"}], "
          + "\"remove\": [\"n3\"], \"promote\": [], \"demote\": []}")
    }
    let changes = try Self.membershipChanges(decoded)
    let node = service.node
    let status = await node.status
    if status.role != .leader {
      return try await forwardToLeader(
        request, path: "/members/change", body: body, status: status, timeout: .seconds(120))
    }
    do {
      try await node.changeMembership(changes)
    } catch RaftError.membershipChangeRejected(let reason) {
      // A retried request whose first attempt went through finds its changes made.
      guard Self.isDone(changes, in: await node.committedMembership) else {
        throw KVRequestError(.conflict, "membership change rejected: \(reason)")
      }
    }
    return try json(await service.status().members)
  }

  /// Whether `membership` already is what `changes` lead to.
  static func isDone(_ changes: [MembershipChange], in membership: Membership) -> Bool {
    guard !membership.isJoint else { return false }
    return changes.allSatisfy { change in
      switch change {
      case .addVoter(let id, _), .promote(let id): return membership.voters.contains(id)
      case .addLearner(let id, _), .demote(let id): return membership.learners.contains(id)
      case .remove(let id): return !membership.contains(id)
      }
    }
  }

  /// The changes a `POST /members/change` body asks for, checked.
  static func membershipChanges(_ request: ChangeMembersRequest) throws -> [MembershipChange] {
    var changes: [MembershipChange] = []
    for member in request.add ?? [] {
      guard !member.id.isEmpty, member.id.utf8.count <= 256 else {
        throw KVRequestError(.badRequest, "a member id must be 1 to 256 bytes long")
      }
      guard TCPTransport.PeerAddress(member.raft) != nil else {
        throw KVRequestError(.badRequest, "raft must be host:port, got \"\(member.raft)\" for \(member.id)")
      }
      if let http = member.http, KVEndpoint(url: http) == nil {
        throw KVRequestError(.badRequest, "http must be host:port, got \"\(http)\" for \(member.id)")
      }
      let addresses = MemberAddresses(
        raft: member.raft, http: member.http.flatMap { KVEndpoint(url: $0)?.description })
      changes.append(.addVoter(NodeID(member.id), attributes: addresses.attributes))
    }
    changes += (request.remove ?? []).map { .remove(NodeID($0)) }
    changes += (request.promote ?? []).map { .promote(NodeID($0)) }
    changes += (request.demote ?? []).map { .demote(NodeID($0)) }
    guard !changes.isEmpty else {
      throw KVRequestError(.badRequest, "nothing to change: give add, remove, promote or demote")
    }
    return changes
  }
}
