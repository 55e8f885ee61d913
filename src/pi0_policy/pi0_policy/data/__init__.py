"""Robot recordings → training data (no rclpy): rosbag2 bags, LeRobot v3 datasets, statistics.

- `bags`: read a rosbag2 bag (MCAP or sqlite3, raw or compressed images) into time-stamped streams;
- `episodes`: split streams on the ``/pi0/episode`` markers, resample to the control rate, make
  state and action targets in the model space of the embodiment's adapter;
- `lerobot`: write and read LeRobot's dataset v3 layout (parquet + mp4 + meta/);
- `stats`: openpi's norm_stats.json and LeRobot's meta/stats.json;
- `dataset`: a torch Dataset of model-ready samples (images, tokens, state, 50-step action chunks).
"""
