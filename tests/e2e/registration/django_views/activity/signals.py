from activity.streams import push_activity
