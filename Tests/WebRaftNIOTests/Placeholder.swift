import Testing

@Test func nioPlaceholder() {}
