"""Tests of the pure fault engine: decide(), rate limits and buckets, capacity, fault rates."""
