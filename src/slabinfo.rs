//! /proc/slabinfo, `ls -l /sys/kernel/slab` and `slabinfo -a` renderings.
