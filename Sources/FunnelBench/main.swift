import FunnelCore
