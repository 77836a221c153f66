import Testing

@Test func fileStoragePlaceholder() {}
