"""Recording robot episodes through ROS into rosbag2 bags (`pi0 record`)."""
