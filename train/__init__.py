"""The thin Megatron-core trainer that reads the exported token shards."""
