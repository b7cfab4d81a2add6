def pytest_addoption(parser):
    parser.addoption(
        "--long",
        action="store_true",
        default=False,
        help="run the end-to-end chaos test at full size (by hand, not in CI)",
    )
