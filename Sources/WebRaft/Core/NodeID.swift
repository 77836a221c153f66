/// The identity of one Raft node: the seed's "address".
///
/// A `NodeID` is an opaque string chosen by the user (`"n1"`, `"10.0.0.5:7000"`, a UUID, …). The
/// library only compares identities; a transport maps an identity to a connection. It encodes as a
/// plain JSON string and can be written as a string literal.
public struct NodeID: Hashable, Comparable, Sendable, ExpressibleByStringLiteral,
  CustomStringConvertible
{
  /// The identity as the user spelled it.
  public let rawValue: String

  /// Creates an identity from its string form.
  public init(_ rawValue: String) {
    self.rawValue = rawValue
  }

  /// Creates an identity from a string literal, so that `"n1"` can stand for a `NodeID`.
  public init(stringLiteral value: String) {
    self.rawValue = value
  }

  /// The identity as the user spelled it.
  public var description: String { rawValue }

  /// Orders identities by their string form, so that listings are stable.
  public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
    lhs.rawValue < rhs.rawValue
  }
}

extension NodeID: Codable {
  /// Decodes an identity from a single string value.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    self.rawValue = try container.decode(String.self)
  }

  /// Encodes the identity as a single string value.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}

extension NodeID: CodingKeyRepresentable {
  /// The identity as a coding key, so that dictionaries keyed by `NodeID` encode as JSON objects.
  public var codingKey: any CodingKey { NodeIDCodingKey(stringValue: rawValue) }

  /// Creates an identity from a dictionary key.
  public init?<T: CodingKey>(codingKey: T) {
    self.rawValue = codingKey.stringValue
  }
}

private struct NodeIDCodingKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }

  init(stringValue: String) {
    self.stringValue = stringValue
  }

  init?(intValue: Int) {
    return nil
  }
}
