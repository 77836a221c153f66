/// The `--flag value` pairs of a benchmark's command line (after the program name) whose values
/// are integers, in order; reading stops at the first flag without an integer after it.
public func integerFlags(_ arguments: [String]) -> [(flag: String, value: Int)] {
  var pairs: [(flag: String, value: Int)] = []
  var iterator = arguments.dropFirst().makeIterator()
  while let flag = iterator.next() {
    guard let value = iterator.next().flatMap(Int.init) else { break }
    pairs.append((flag, value))
  }
  return pairs
}
