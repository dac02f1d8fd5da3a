require ["fileinto"];
fileinto "1"; fileinto "2"; fileinto "3"; fileinto "4"; fileinto "5"; fileinto "6";
fileinto "7"; fileinto "8"; fileinto "9"; fileinto "10"; fileinto "11"; fileinto "12";
fileinto "13"; fileinto "14"; fileinto "15"; fileinto "16"; fileinto "17"; fileinto "18";
fileinto "19"; fileinto "20"; fileinto "21"; fileinto "22"; fileinto "23"; fileinto "24";
fileinto "25"; fileinto "26"; fileinto "27"; fileinto "28"; fileinto "29"; fileinto "30";
fileinto "31"; fileinto "32"; fileinto "33";
