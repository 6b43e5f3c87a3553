"""W3C traceparent helpers (no server)."""

import unittest

from spool_client import child_traceparent, new_traceparent, parse_traceparent

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TraceParentTests(unittest.TestCase):
    def test_parses_a_valid_traceparent(self) -> None:
        parts = parse_traceparent(PARENT)
        assert parts is not None
        self.assertEqual(parts.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736")
        self.assertEqual(parts.parent_id, "00f067aa0ba902b7")
        self.assertTrue(parts.sampled)
        self.assertEqual(str(parts), PARENT)

    def test_refuses_what_the_specification_refuses(self) -> None:
        for value in [
            None,
            "",
            PARENT.upper(),  # lowercase hex only
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
            PARENT + "-extra",  # version 00 has exactly four fields
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        ]:
            with self.subTest(value=value):
                self.assertIsNone(parse_traceparent(value))

    def test_a_later_version_may_carry_more_fields(self) -> None:
        parts = parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes")
        assert parts is not None
        self.assertEqual(parts.version, "cc")

    def test_a_child_keeps_the_trace_and_flags_with_a_new_parent_id(self) -> None:
        child = child_traceparent(PARENT)
        parts = parse_traceparent(child)
        assert parts is not None
        self.assertEqual(parts.version, "00")
        self.assertEqual(parts.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736")
        self.assertNotEqual(parts.parent_id, "00f067aa0ba902b7")
        self.assertEqual(parts.flags, "01")
        self.assertNotEqual(child_traceparent(PARENT), child, "each child gets its own parent id")
        unsampled = parse_traceparent(child_traceparent(PARENT[:-2] + "00"))
        assert unsampled is not None
        self.assertFalse(unsampled.sampled)

    def test_a_child_of_something_else_is_an_error(self) -> None:
        with self.assertRaises(ValueError):
            child_traceparent("not a traceparent")

    def test_a_new_trace(self) -> None:
        first, second = parse_traceparent(new_traceparent()), parse_traceparent(new_traceparent(sampled=False))
        assert first is not None and second is not None
        self.assertTrue(first.sampled)
        self.assertFalse(second.sampled)
        self.assertNotEqual(first.trace_id, second.trace_id)


if __name__ == "__main__":
    unittest.main()
