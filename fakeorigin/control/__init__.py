"""The control API: its request and response models, the OpenAPI document made from them,
the Klein application that serves them, and a small synchronous client
(:mod:`fakeorigin.client` is the same client under its public name)."""
